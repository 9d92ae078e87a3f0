"""Official CenterTrack network architectures with the official parameter names."""
