"""Gradio tabs. Thin: each callback calls studio.service (or jobs.queue) and formats the answer."""
