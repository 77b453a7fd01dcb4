"""The knowledge base: bilingual search over the exception catalog and a guided wizard."""
