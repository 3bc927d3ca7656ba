# Copyright 2026 The disdepth_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
``disdepth adopt``: make a foreign depth network a DisDepth model that every tool here runs.

A network of a known family (:mod:`disdepth_core.adopt.families`), as an ONNX file or a local
Hugging Face ``transformers`` folder (``--family hf``, exported by
:mod:`disdepth_core.adopt.hf`), becomes an ONNX file with the DisDepth contract (input ``image``
RGB in [0, 1], output ``depth``; :mod:`disdepth_core.adopt.graph`) and a ``ModelSpec`` saying
what its output means (``output_kind``: metres, metres for a canonical camera, or relative
disparity), its input size or size rule, its normalisation and depth range.  The node, ``disdepth
bag``, ``eval``, ``infer`` and ``bench`` then run it unchanged.

The written file is opened with ONNX Runtime and run once before it replaces ``OUT``; on any
problem nothing is written and the error says what is wrong.
"""

from dataclasses import dataclass, field
import hashlib
import math
from pathlib import Path
import shutil
import tempfile
from typing import Any, Callable, Optional, Tuple

import numpy as np

from disdepth_core.adopt.families import FAMILIES
from disdepth_core.adopt.families import Family
from disdepth_core.adopt.families import get_family
from disdepth_core.adopt.families import RELATIVE_RANGE
from disdepth_core.modelspec import METRIC_OUTPUT_KINDS
from disdepth_core.modelspec import ModelSpec
from disdepth_core.modelspec import ONNX_METADATA_KEY
from disdepth_core.modelspec import OUTPUT_KINDS

__all__ = ['AdoptError', 'AdoptOptions', 'Conventions', 'FAMILIES', 'adopt', 'conventions_for',
           'network_size']

Triple = Tuple[float, float, float]
# Larger models are written with their weights in a ``<OUT>.data`` file beside them.
EXTERNAL_DATA_BYTES = 1_800_000_000


class AdoptError(ValueError):
    """The network cannot be adopted; the message says why (nothing was written)."""


@dataclass(frozen=True)
class AdoptOptions:
    """
    What ``disdepth adopt`` was asked (``None``: the family's value).

    :param family: a key of :data:`FAMILIES`, or ``'hf'``
    :param input_size: network (height, width) for graphs with a dynamic size
    :param mean: per-channel mean of RGB in [0, 1] (``generic``)
    :param std: per-channel std of RGB in [0, 1] (``generic``)
    :param output: name of the output that holds depth
    :param kind: output kind (``generic``, and ``hf`` to override the model type's)
    :param canonical_focal: focal length in pixels at the input size (``canonical_metric``)
    :param min_depth: lower end of the depth range, metres
    :param max_depth: upper end of the depth range, metres
    :param scene: ``indoor`` / ``outdoor`` for families trained per scene type
    :param bgr: the network expects BGR (``generic``)
    :param name: model name in the spec (default: the input's file name)
    :param opset: ONNX opset of Hugging Face exports
    """

    family: str
    input_size: Optional[Tuple[int, int]] = None
    mean: Optional[Triple] = None
    std: Optional[Triple] = None
    output: Optional[str] = None
    kind: Optional[str] = None
    canonical_focal: Optional[float] = None
    min_depth: Optional[float] = None
    max_depth: Optional[float] = None
    scene: Optional[str] = None
    bgr: bool = False
    name: Optional[str] = None
    opset: int = 17


@dataclass(frozen=True)
class Conventions:
    """
    Everything the spec needs, resolved from the family and the options.

    :param family: family name
    :param kind: output kind
    :param mean: mean of RGB in [0, 1] the network expects subtracted
    :param std: std of RGB in [0, 1] the network expects divided by
    :param multiple: input sides must be multiples of this
    :param canonical_focal: canonical focal length (0 for kinds without one)
    :param min_depth: depth range start, metres
    :param max_depth: depth range end, metres
    :param bgr: BGR input
    :param default_size: size for dynamic graphs when none is asked
    :param output_names: preferred output names
    :param source: where the convention is documented
    :param notes: how ambiguous fields were resolved (shown to the user)
    """

    family: str
    kind: str
    mean: Triple
    std: Triple
    multiple: int
    canonical_focal: float
    min_depth: float
    max_depth: float
    bgr: bool = False
    default_size: Optional[Tuple[int, int]] = None
    output_names: Tuple[str, ...] = ()
    source: str = ''
    notes: Tuple[str, ...] = field(default_factory=tuple)


def _triple(value: Any, what: str, positive: bool) -> Triple:
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise AdoptError(f'--{what} must be three numbers R,G,B, got {value!r}') from None
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise AdoptError(f'--{what} must be three finite numbers R,G,B, got {value!r}')
    if positive and min(values) <= 0:
        raise AdoptError(f'--{what} values must be > 0, got {value!r}')
    return values  # type: ignore[return-value]


def _scene_depth(family: Family, options: AdoptOptions, source: Path) -> Tuple[float, str]:
    scenes = dict(family.scenes)
    if options.scene is not None:
        if options.scene not in scenes:
            raise AdoptError(f'--scene {options.scene!r}: family {family.name} has scenes '
                             f'{", ".join(scenes)}')
        return scenes[options.scene], f'--scene {options.scene}: max depth ' \
                                      f'{scenes[options.scene]:g} m'
    # The community checkpoints carry their training set in the file name.
    named = {'hypersim': 'indoor', 'vkitti': 'outdoor'}
    hits = {scene for key, scene in named.items() if key in source.name.lower()}
    if len(hits) == 1:
        scene = hits.pop()
        return scenes[scene], (f'{scene} checkpoint (file name {source.name}): max depth '
                               f'{scenes[scene]:g} m; pass --scene or --max-depth to change it')
    listed = ', '.join(f'--scene {s} ({d:g} m)' for s, d in family.scenes)
    raise AdoptError(f'family {family.name}: the maximum depth depends on the checkpoint; pass '
                     f'{listed} or --max-depth M')


def conventions_for(family_name: str, options: AdoptOptions, source: Path) -> Conventions:
    """
    Resolve the conventions of a network from its family and the options.

    :param family_name: a key of :data:`FAMILIES`
    :param options: the command's options
    :param source: the input file (its name tells some checkpoints apart)
    :raises AdoptError: an option the family fixes, a missing one (``generic``), a bad value
    """
    try:
        family = get_family(family_name)
    except ValueError as exc:
        raise AdoptError(str(exc)) from None
    notes = []
    if family.fixed:
        given = [flag for flag, value in (('--mean', options.mean), ('--std', options.std),
                                          ('--kind', options.kind),
                                          ('--canonical-focal', options.canonical_focal),
                                          ('--bgr', options.bgr or None))
                 if value is not None]
        if given:
            raise AdoptError(f'family {family.name} fixes {", ".join(given)} ({family.source}); '
                             'use --family generic to give every convention yourself')
        kind = str(family.output_kind)
        mean, std = tuple(family.mean or ()), tuple(family.std or ())
        focal = family.canonical_focal or 0.0
        bgr = family.bgr
    else:
        missing = [flag for flag, value in (('--kind', options.kind), ('--mean', options.mean),
                                            ('--std', options.std)) if value is None]
        if missing:
            raise AdoptError(f'family generic needs {", ".join(missing)} (nothing is guessed: '
                             '--mean/--std apply to RGB scaled to [0, 1], --kind is one of '
                             f'{", ".join(OUTPUT_KINDS)})')
        kind = str(options.kind)
        if kind not in OUTPUT_KINDS:
            raise AdoptError(f'--kind {kind!r} is not one of {", ".join(OUTPUT_KINDS)}')
        mean, std = tuple(options.mean or ()), tuple(options.std or ())
        focal = options.canonical_focal or 0.0
        bgr = options.bgr
        if kind == 'canonical_metric' and options.canonical_focal is None:
            raise AdoptError('--kind canonical_metric needs --canonical-focal F (pixels at the '
                             'network input size)')
        if kind != 'canonical_metric' and options.canonical_focal is not None:
            raise AdoptError(f'--canonical-focal applies to --kind canonical_metric only, not '
                             f'{kind}')
    mean = _triple(mean, 'mean', positive=False)
    std = _triple(std, 'std', positive=True)
    if kind == 'canonical_metric' and not (math.isfinite(focal) and focal > 0):
        raise AdoptError(f'--canonical-focal must be a positive number, got {focal!r}')
    if options.scene is not None and not family.scenes:
        raise AdoptError(f'--scene applies to families trained per scene type '
                         f'({", ".join(n for n, f in FAMILIES.items() if f.scenes)}), '
                         f'not {family.name}')
    if kind in METRIC_OUTPUT_KINDS:
        min_depth = options.min_depth if options.min_depth is not None else family.min_depth
        max_depth = options.max_depth
        if max_depth is None and family.scenes:
            max_depth, note = _scene_depth(family, options, source)
            notes.append(note)
        elif max_depth is None:
            max_depth = family.max_depth
        if min_depth is None or max_depth is None:
            raise AdoptError('a metric --kind needs --min-depth M and --max-depth M (metres)')
        if not (math.isfinite(min_depth) and math.isfinite(max_depth)
                and 0 < min_depth < max_depth):
            raise AdoptError(f'need 0 < --min-depth < --max-depth, got {min_depth!r} and '
                             f'{max_depth!r}')
    else:
        if options.min_depth is not None or options.max_depth is not None:
            raise AdoptError(f'--min-depth / --max-depth do not apply to {kind} outputs '
                             '(they have no unit)')
        min_depth, max_depth = RELATIVE_RANGE
    return Conventions(family=family.name, kind=kind, mean=mean, std=std,
                       multiple=family.multiple, canonical_focal=float(focal),
                       min_depth=float(min_depth), max_depth=float(max_depth), bgr=bool(bgr),
                       default_size=family.default_size, output_names=family.output_names,
                       source=family.source, notes=tuple(notes))


def network_size(static_hw: Optional[Tuple[int, int]], conv: Conventions,
                 wanted: Optional[Tuple[int, int]]) -> Tuple[int, int]:
    """
    Choose the network input size: the graph's fixed one, else ``wanted``, else the default.

    :raises AdoptError: a size the family does not allow, or a fixed graph asked for another
    """
    if static_hw is not None:
        if wanted is not None and tuple(wanted) != tuple(static_hw):
            raise AdoptError(f'the graph has a fixed input size {static_hw[0]}x{static_hw[1]}; '
                             f'--input-size {wanted[0]}x{wanted[1]} needs a dynamic-size export')
        hw, where = tuple(static_hw), "the graph's fixed input size"
    elif wanted is not None:
        hw, where = tuple(wanted), '--input-size'
    elif conv.default_size is not None:
        hw, where = tuple(conv.default_size), f"family {conv.family}'s usual size"
    else:
        raise AdoptError("the graph's input size is dynamic: pass --input-size HxW")
    h, w = int(hw[0]), int(hw[1])
    if h <= 0 or w <= 0 or h % conv.multiple or w % conv.multiple:
        raise AdoptError(f'input size {h}x{w} ({where}) is not allowed by family {conv.family}: '
                         f'both sides must be positive multiples of {conv.multiple}')
    return h, w


def source_sha256(path: Path) -> str:
    """Return the SHA-256 of the adopted file, or of a folder's files in name order."""
    from disdepth_core.inference.atomic import file_sha256
    if not path.is_dir():
        return file_sha256(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob('*') if p.is_file()):
        digest.update(item.relative_to(path).as_posix().encode())
        digest.update(bytes.fromhex(file_sha256(item)))
    return digest.hexdigest()


def _load_onnx(path: Path) -> Any:
    import onnx
    try:
        return onnx.load(str(path))
    except Exception as exc:  # noqa: B902 - protobuf raises several unrelated types
        raise AdoptError(f'{path} is not an ONNX file ({type(exc).__name__}: {exc})') from None


def _save(model: Any, path: Path) -> None:
    """Save, with the weights in ``<path>.data`` when the model is too large for one file."""
    import onnx
    size = sum(len(init.raw_data) for init in model.graph.initializer)
    if size > EXTERNAL_DATA_BYTES:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=f'{path.name}.data')
    else:
        onnx.save_model(model, str(path))


def _check_runs(path: Path, hw: Tuple[int, int]) -> None:
    """Open the written file like every tool does and run it once."""
    from disdepth_core.inference import ModelLoadError
    from disdepth_core.inference.onnx_engine import OnnxEstimator
    try:
        est = OnnxEstimator(path, device='cpu', input_size=hw)
        x = np.random.default_rng(0).random((1, 3, hw[0], hw[1]), dtype=np.float32)
        depth = est.forward(x)['depth']
    except (ModelLoadError, ValueError, RuntimeError) as exc:
        raise AdoptError(f'the adopted model does not run: {exc}') from None
    if depth.ndim != 4 or depth.shape[:2] != (1, 1) or min(depth.shape[2:]) < 1:
        raise AdoptError(f"the adopted model's depth has shape {depth.shape}, expected "
                         '1 x 1 x h x w')
    if not np.isfinite(depth).any():
        raise AdoptError('the adopted model outputs no finite depth on a test image')


def adopt(source: Path, target: Path, options: AdoptOptions,
          log: Callable[[str], None] = print) -> ModelSpec:
    """
    Adopt ``source`` (ONNX file, or Hugging Face folder with ``family='hf'``) into ``target``.

    :param source: the foreign network
    :param target: the ``.onnx`` file to write (replaced atomically)
    :param options: see :class:`AdoptOptions`
    :param log: progress printer
    :return: the spec written into ``target``
    :raises AdoptError: naming the problem; nothing is written then
    """
    source, target = Path(source).expanduser(), Path(target).expanduser()
    if not source.exists():
        raise AdoptError(f'{source} does not exist')
    if target.suffix.lower() != '.onnx':
        raise AdoptError(f'the output {target} must be an .onnx file')
    if not target.parent.is_dir():
        raise AdoptError(f'the output folder {target.parent} does not exist')
    if options.family == 'hf':
        from disdepth_core.adopt.hf import export_hf
        model, conv, hw, dynamic, described = export_hf(source, options, log)
    else:
        if source.is_dir():
            raise AdoptError(f'{source} is a folder: a Hugging Face model folder needs '
                             '--family hf, other families take an .onnx file')
        model = _load_onnx(source)
        if any(p.key == ONNX_METADATA_KEY for p in model.metadata_props):
            raise AdoptError(f'{source} is already a DisDepth model (it has {ONNX_METADATA_KEY} '
                             'metadata): every tool runs it as it is')
        from disdepth_core.adopt.graph import choose_output
        from disdepth_core.adopt.graph import describe
        from disdepth_core.adopt.graph import find_image_input
        from disdepth_core.adopt.graph import GraphError
        from disdepth_core.adopt.graph import wrap
        conv = conventions_for(options.family, options, source)
        try:
            image = find_image_input(model)
            output = choose_output(model, options.output, conv.output_names)
            described = f'{describe(image_info(model, image.name))} -> {describe(output)}'
            hw = network_size(image.static_hw, conv, options.input_size)
            dynamic = image.static_hw is None
            wrap(model, image, output, conv.mean, conv.std, conv.bgr)
        except GraphError as exc:
            raise AdoptError(f'{source}: {exc}') from None
    for note in conv.notes:
        log(f'disdepth adopt: {note}')
    spec = ModelSpec(
        name=options.name or source.stem, architecture='adopted', backbone=conv.family,
        input_height=hw[0], input_width=hw[1], canonical_focal=conv.canonical_focal,
        min_depth=conv.min_depth, max_depth=conv.max_depth, mean=conv.mean, std=conv.std,
        outputs=('depth',), dynamic=dynamic, output_kind=conv.kind,
        input_multiple=conv.multiple,
        extra={'adopted_from': source.name, 'sha256': source_sha256(source),
               'family': conv.family, 'convention_source': conv.source,
               'original_io': described, 'channel_order': 'BGR' if conv.bgr else 'RGB'})
    from disdepth_core.export import set_metadata
    set_metadata(model, {ONNX_METADATA_KEY: spec.to_json(),
                         'disdepth.family': conv.family,
                         'disdepth.output_kind': conv.kind,
                         'disdepth.preprocessing': (
                             f'input "image": RGB float32 NCHW in [0,1]; '
                             f'{"BGR reordering, " if conv.bgr else ""}normalisation '
                             f'mean={list(conv.mean)} std={list(conv.std)} inside the graph')})
    work = Path(tempfile.mkdtemp(prefix=f'.{target.name}.', suffix='.partial', dir=target.parent))
    try:
        tmp = work / target.name
        _save(model, tmp)
        _check_runs(tmp, hw)
        data = work / f'{target.name}.data'
        if data.exists():
            data.replace(target.parent / data.name)
        tmp.replace(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f'disdepth adopt: wrote {target} ({conv.family}, {conv.kind}, input '
        f'{hw[0]}x{hw[1]}{" dynamic" if dynamic else ""}; was {described})')
    return spec


def image_info(model: Any, name: str) -> Any:
    """Return the graph input called ``name`` (before rewriting)."""
    return next(i for i in model.graph.input if i.name == name)
