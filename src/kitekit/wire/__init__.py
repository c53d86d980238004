"""Pure codecs shared by the client and the simulator: envelopes, instruments CSV, formats, routes, tick frames,
order terms and rules."""
