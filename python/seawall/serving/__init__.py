"""Serving: the native dynamic batcher, model bundles and the Open Inference Protocol server."""
