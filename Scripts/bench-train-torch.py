#!/usr/bin/env python3
"""PyTorch's side of Scripts/bench-train: the same Llama shape (6 layers, d 384, 6 heads, FFN 1024,
vocab 512, untied head; about 11M parameters), batch 8 x 128 random tokens, AdamW (betas 0.9/0.95,
weight decay 0.1), clip_grad_norm_(1.0), transformers' LlamaForCausalLM with its default (SDPA)
attention. Prints one JSON line: tokens/s over the steps after the first, seconds per step, peak RSS.
Usage: bench-train-torch.py [fp32|bf16] [steps] [threads]"""
import json, resource, sys, time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

precision = sys.argv[1] if len(sys.argv) > 1 else "fp32"
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 6
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
torch.set_num_threads(threads)
torch.manual_seed(1)
cfg = LlamaConfig(vocab_size=512, hidden_size=384, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=6,
                  num_key_value_heads=6, max_position_embeddings=1024, rms_norm_eps=1e-5, tie_word_embeddings=False)
model = LlamaForCausalLM(cfg).train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
g = torch.Generator().manual_seed(2)
B, T = 8, 128
times, losses = [], []
for s in range(steps):
    ids = torch.randint(0, 512, (B, T), generator=g)
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=(precision == "bf16")):
        logits = model(input_ids=ids).logits
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, 512), ids[:, 1:].reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    times.append(time.perf_counter() - t0)
    losses.append(loss.item())
rest = times[1:] or times
print(json.dumps({"engine": "pytorch " + torch.__version__, "precision": precision, "parameters": sum(p.numel() for p in model.parameters()),
                  "batch": B, "seq": T, "steps": steps, "tokens_per_s": len(rest) * B * T / sum(rest), "step_seconds": sum(rest) / len(rest),
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "losses": losses, "threads": threads}))
