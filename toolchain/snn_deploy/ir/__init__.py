"""The normalized, discrete-time float network and its discretization contract."""
