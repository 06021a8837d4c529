"""Every network the course trains or inspects: AlexNet (paper, torchvision, scaled), the
per-layer summary and the pre-2012 baseline. ``models`` never imports ``datasets``."""
