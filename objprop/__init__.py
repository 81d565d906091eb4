"""ObjProp reproducibility library."""
