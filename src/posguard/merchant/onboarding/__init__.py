"""Onboarding documents: checklist by merchant type, identifier rules, expiry, privacy."""
