"""Biological references (mouse retina and V1, Dyballa et al. 2024): pinned downloads with SHA-256
checks (``fetch``), a restricted unpickler (``safe_pickle``) and loaders (``datasets``)."""
