"""Evaluation: one token stream per (model, text), llama.cpp's perplexity protocol, speed, generations."""
