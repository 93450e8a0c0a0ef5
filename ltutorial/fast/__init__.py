"""The engine tier: speed only, never a different number.

``engine`` captures ``fit``'s train step as one CUDA graph; ``fused`` trains several
same-architecture models as one network on that engine (``fit_many``); ``pack`` writes the compact
data file a GPU machine without internet gets its CIFAR copy from. ``ltutorial.train.fit`` and
``fit_many`` reach this tier through one seam, their ``fast`` flag (None -> on for CUDA); the eager
loop in ``ltutorial.train.loop`` is the specification the CPU tests hold the engine to. Deleting
this subpackage changes no result, only speed (docs/ARCHITECTURE.md, "Engine tier").
"""
