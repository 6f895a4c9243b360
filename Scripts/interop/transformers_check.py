"""Loads a Hugging Face folder that llmopt saved with transformers and prints, as one JSON line,
its perplexity under llmopt's protocol (windows of ctx tokens, ctx apart; every token after the
first scored once) and its greedy chat reply. Usage: transformers_check.py FOLDER TEXT CTX MAX_TOKENS"""
import json
import math
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

folder, text, ctx, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
ids = tokenizer(open(text, encoding="utf-8").read())["input_ids"][:max_tokens]

nll, scored, start, previous_end = 0.0, 0, 0, 0
with torch.no_grad():
    while True:
        end = min(start + ctx, len(ids))
        logp = torch.log_softmax(model(torch.tensor([ids[start:end]])).logits[0].double(), -1)
        for t in range(max(start + 1, previous_end), end):
            nll -= logp[t - 1 - start, ids[t]].item()
            scored += 1
        if end == len(ids):
            break
        previous_end, start = end, start + ctx

    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    if not torch.is_tensor(prompt):
        prompt = prompt["input_ids"]
    out = model.generate(prompt, max_new_tokens=24, do_sample=False)
    reply = tokenizer.decode(out[0][prompt.shape[1]:], skip_special_tokens=True)

print(json.dumps({"n_tokens": len(ids), "n_scored": scored, "ppl": math.exp(nll / scored), "reply": reply}))
