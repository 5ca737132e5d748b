"""One reader module per MovieLens layout, and what they share.

- :mod:`~movierec_env.data.readers.csv`: ml-latest-small, ml-latest, ml-20m/25m/32m;
- :mod:`~movierec_env.data.readers.dat`: ml-1m, ml-10m (``::``);
- :mod:`~movierec_env.data.readers.ml100k`: ml-100k;
- :mod:`~movierec_env.data.readers.ratings`: the ratings reader of every layout;
- :mod:`~movierec_env.data.readers.common`: errors, line handling, catalogue helpers.

Each layout module exposes ``FILES``, ``RATING_SCALE``, ``RATINGS_FORMAT`` and
``read_catalogue(files)``. Use :func:`movierec_env.data.load_raw`, which picks the layout.
"""

__all__: list[str] = []
