// Placeholder until its part lands; replaced by the real implementation.
