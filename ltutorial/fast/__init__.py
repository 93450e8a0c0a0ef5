"""The engine tier, speed only: ``engine`` (the train step as one CUDA graph), ``fused`` (several models as one
network), ``pack`` (CIFAR in one file for a GPU machine). ``fit``/``fit_many`` reach it through their ``fast``
flag; deleting it changes no result (docs/ARCHITECTURE.md, "Engine tier")."""
