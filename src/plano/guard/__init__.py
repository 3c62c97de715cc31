"""Guards that run inside the gateway: detectors over request and answer text."""
