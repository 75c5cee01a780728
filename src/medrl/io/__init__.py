"""Reading and writing row files of every supported format, atomically, and hashing them."""
