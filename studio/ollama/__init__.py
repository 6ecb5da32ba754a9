"""Import a GGUF result into an Ollama server: a Modelfile whose chat template and stop tokens come from
the GGUF's own metadata, the blob upload, the create call, and a one-message smoke chat."""
