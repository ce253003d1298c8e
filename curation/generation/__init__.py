"""Generated training data: the generator (SafeWeb, RefuseWeb, Moral Education), its prompts and quality gates."""
