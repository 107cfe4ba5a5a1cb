"""Employer–candidate messaging with a moderation and compliance portal: the domain core."""
