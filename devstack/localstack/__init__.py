"""LocalStack in host mode: its pinned environment (requirements.txt, constraints.txt) and its server (host.py)."""
