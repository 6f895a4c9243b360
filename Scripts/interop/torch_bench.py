"""PyTorch's prefill and decode tokens/s for the GPT-2-small shape with random weights, as
llmopt's `bench --random gpt2-small` measures it: one forward pass over PROMPT tokens, then
DECODE single-token steps with the KV cache, greedy; best of RUNS each; float32, eager
attention, no autograd. Prints one JSON line. Usage: torch_bench.py PROMPT DECODE RUNS THREADS"""
import json
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

prompt, decode, runs, threads = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config(attn_implementation="eager")).eval()
ids = torch.randint(0, model.config.vocab_size, (1, prompt))

best_prefill, best_decode = 0.0, 0.0
with torch.inference_mode():
    for _ in range(runs):
        start = time.perf_counter()
        out = model(ids, use_cache=True)
        best_prefill = max(best_prefill, prompt / (time.perf_counter() - start))
        cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        start = time.perf_counter()
        for _ in range(decode):
            out = model(token, past_key_values=cache, use_cache=True)
            cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        best_decode = max(best_decode, decode / (time.perf_counter() - start))
print(json.dumps({"prefill_tok_s": best_prefill, "decode_tok_s": best_decode, "torch": torch.__version__,
                  "threads": torch.get_num_threads()}))
