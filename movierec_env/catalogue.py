"""The movie catalogue seen from the action space: action ``a`` is item index ``a + 1``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from movierec_env.data.types import PreparedDataset

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Catalogue", "Movie"]


@dataclass(frozen=True)
class Movie:
    """One catalogue entry.

    Attributes:
        action: Action index in ``Discrete(n_items)``.
        item: Item index in the prepared dataset (``action + 1``).
        movie_id: MovieLens movieId.
        title: Title (with year, as in MovieLens).
        genres: Genre names (empty when the movie lists none).
    """

    action: int
    item: int
    movie_id: int
    title: str
    genres: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.title} [{'|'.join(self.genres) or 'no genre'}]"


class Catalogue:
    """Maps actions to movies (and back) for one prepared dataset.

    ``catalogue[a]`` is a :class:`Movie`; ``len(catalogue)`` is the number of actions.

    Args:
        data: The prepared dataset.
    """

    def __init__(self, data: PreparedDataset) -> None:
        self._data = data
        self.movie_ids: NDArray[np.int64] = data.item_movie_ids[1:]
        self.titles: NDArray[np.object_] = data.item_titles[1:]
        self.genre_matrix: NDArray[np.float32] = data.item_genres[1:]
        self.genre_names: list[str] = list(data.genre_names)

    def __len__(self) -> int:
        return int(self.movie_ids.shape[0])

    def __iter__(self) -> Iterator[Movie]:
        return (self[a] for a in range(len(self)))

    def _check(self, action: Any) -> int:
        if isinstance(action, bool) or not isinstance(action, int | np.integer):
            raise TypeError(f"action must be an int, got {action!r} ({type(action).__name__})")
        a = int(action)
        if not 0 <= a < len(self):
            raise ValueError(
                f"action {a} out of range: the catalogue has actions 0..{len(self) - 1}"
            )
        return a

    def __getitem__(self, action: int) -> Movie:
        a = self._check(action)
        return Movie(
            action=a,
            item=a + 1,
            movie_id=int(self.movie_ids[a]),
            title=str(self.titles[a]),
            genres=self.genres(a),
        )

    def genres(self, action: int) -> tuple[str, ...]:
        """Genre names of an action's movie."""
        a = self._check(action)
        return tuple(self.genre_names[j] for j in np.flatnonzero(self.genre_matrix[a]))

    def title(self, action: int) -> str:
        """Title of an action's movie."""
        return str(self.titles[self._check(action)])

    def movie_id(self, action: int) -> int:
        """MovieLens movieId of an action."""
        return int(self.movie_ids[self._check(action)])

    def action_of(self, movie_id: int) -> int:
        """Action index of a MovieLens movieId.

        Raises:
            KeyError: If the movie is not in the (filtered) catalogue.
        """
        return self._data.movie_to_item(movie_id) - 1

    def to_frame(self) -> pd.DataFrame:
        """The catalogue as a DataFrame indexed by action (movieId, title, genres)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "movieId": self.movie_ids,
                "title": self.titles,
                "genres": ["|".join(self.genres(a)) for a in range(len(self))],
            },
            index=pd.RangeIndex(len(self), name="action"),
        )

    def __repr__(self) -> str:
        return f"Catalogue({self._data.name!r}, n_actions={len(self)})"
