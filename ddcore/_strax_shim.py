"""The only places ddcore reaches into strax beyond its public API, each the smallest that does
the job, each pinned by ``tests/test_strax_shim.py`` so a strax release that changes what they
rely on fails there, by name, instead of somewhere downstream.

(The storage classes of ``ddcore.storage`` override ``_find``, ``_get_metadata``, ``_saver``,
``_read_chunk`` ... of ``strax.StorageFrontend`` / ``StorageBackend`` / ``Saver``: those are the
extension points strax documents for a storage of one's own, as ``strax.DataDirectory`` uses
them, not private uses.)
"""

from __future__ import annotations

import typing as ty

import strax


def registered_plugin_class(st: strax.Context, data_type: str) -> ty.Optional[type]:
    """The plugin class registered for ``data_type`` (None if none), without making a plugin.

    strax has no public accessor: ``Context.register`` (strax/context.py) files each class under
    the data types it provides in ``Context._plugin_class_registry``, and strax's own methods
    (``provided_dtypes``, ``tree``, ``get_dependencies``) read that dict. The public route,
    ``type(st.get_single_plugin(run_id, data_type))``, needs a run and configures every plugin
    upstream of the data type; a superrun id has no run to configure them for.
    """
    return st._plugin_class_registry.get(data_type)


def as_context_class(plain: strax.Context, cls: type) -> strax.Context:
    """``plain``, a context ``strax.Context.new_context`` made, as an instance of the subclass
    ``cls`` (which adds methods and class-level defaults but no ``__init__`` state).

    ``Context.new_context`` (strax/context.py) builds a plain ``Context(...)`` whatever the class
    of the context it is called on, then copies the plugin registry into it; everything a context
    holds is in its ``__dict__``, so changing the class keeps all of it.
    """
    if type(plain) is not strax.Context and not isinstance(plain, cls):
        raise TypeError(f"strax.Context.new_context returned a {type(plain).__name__}, expected a plain strax.Context")
    plain.__class__ = cls
    return plain


class AppendWithoutCopy(strax.Plugin):
    """A plugin that takes a new input chunk as it is when nothing is left of the previous one.

    ``Plugin._fetch_chunk`` (strax/plugins/plugin.py, called by ``Plugin.iter`` for every input
    chunk) concatenates what is left of the last chunk in ``self.input_buffer[d]`` with the next,
    copying the new chunk even when nothing is left (a single input, the usual case): a copy of
    every chunk of every input. Here that chunk is taken as it is, as strax's
    ``Chunk.concatenate`` would return it (one run: no superrun information).
    Everything else goes to strax's method.
    """

    def _fetch_chunk(self, d, iters, check_end_not_before=None):
        buffered = self.input_buffer.get(d)
        if buffered is None or len(buffered):
            return super()._fetch_chunk(d, iters, check_end_not_before)
        try:
            new = next(iters[d])
        except StopIteration:
            if check_end_not_before is not None and buffered.end < check_end_not_before:
                raise RuntimeError(
                    f"Tried to get data until {check_end_not_before}, but {d} ended prematurely at {buffered.end}"
                ) from None
            return False
        if buffered.end != new.start or buffered.run_id != new.run_id or buffered.subruns or new.subruns:
            self.input_buffer[d] = strax.Chunk.concatenate([buffered, new], self.allow_superrun)
        else:
            self.input_buffer[d] = strax.Chunk(
                start=buffered.start, end=new.end, dtype=new.dtype, data_type=new.data_type,
                data_kind=new.data_kind, run_id=new.run_id,
                data=new.data, target_size_mb=max(buffered.target_size_mb, new.target_size_mb),
            )
        return True
