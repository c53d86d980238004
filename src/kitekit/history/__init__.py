"""Historical candles of any length: request windows, fetching, the candle store and charts."""
