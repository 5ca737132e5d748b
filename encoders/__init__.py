"""Frozen sequence encoders: TimeRatingAwareLSTM and TimeRatingAwareContentModel."""
