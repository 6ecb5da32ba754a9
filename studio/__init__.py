"""Quantization Studio's domain layer: recipes, evaluation, hardware, storage. No UI code here."""
