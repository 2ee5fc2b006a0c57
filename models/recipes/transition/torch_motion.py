"""Torch versions of the motion maths in ``studio.motion.learned.dataset`` (recipes only: the app never
imports torch). Shared by the TransitionNet and StyleVAE recipes."""

from __future__ import annotations

import numpy as np
import torch

from studio.motion.io.deepmimic import HUMANOID
from studio.motion.learned import dataset as D

_PARENTS = list(HUMANOID.parents)
_OFFSETS = torch.tensor(HUMANOID.offsets, dtype=torch.float32)
_SLOT = {int(j): k for k, j in enumerate(D.ANIMATED_INDEX)}  # humanoid joint -> animated slot


def sixd_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3), Gram-Schmidt on the two columns (as dataset.sixd_to_matrix)."""
    a, b = x[..., :3], x[..., 3:6]
    e1 = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    b = b - (e1 * b).sum(-1, keepdim=True) * e1
    e2 = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    e3 = torch.cross(e1, e2, dim=-1)
    return torch.stack([e1, e2, e3], dim=-1)


def fk(root_pos: torch.Tensor, rotmats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """root_pos (..., 3), local rotation matrices of the 13 animated joints (..., 13, 3, 3)
    -> world positions (..., 18, 3) and global rotation matrices (..., 18, 3, 3)."""
    offs = _OFFSETS.to(root_pos.device, root_pos.dtype)
    pos: list[torch.Tensor] = []
    glob: list[torch.Tensor] = []
    for j, p in enumerate(_PARENTS):
        local = rotmats[..., _SLOT[j], :, :] if j in _SLOT else None
        if p < 0:
            g = local
            x = root_pos
        else:
            gp = glob[p]
            g = gp if local is None else gp @ local
            x = pos[p] + (gp @ offs[j].unsqueeze(-1)).squeeze(-1)
        pos.append(x)
        glob.append(g)
    return torch.stack(pos, dim=-2), torch.stack(glob, dim=-3)


def placement_fk(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """De-normalised placement features (..., 81) -> FK in the reference frame."""
    lead = feats.shape[:-1]
    m = sixd_to_matrix(feats[..., 3:].reshape(*lead, D.N_ROT, 6))
    return fk(feats[..., :3], m)


def motion_fk(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """De-normalised motion features (B, T, 82) -> FK (B, T, 18, 3) with the root integrated
    from the velocities (start at the origin facing +X, as dataset.features_to_arrays)."""
    b, t = feats.shape[:2]
    h = np.pi / 2 + torch.cat([torch.zeros(b, 1, dtype=feats.dtype),
                               torch.cumsum(feats[:, :-1, 3], dim=1)], dim=1)
    c, s = torch.cos(h), torch.sin(h)
    # yaw(h) applied to (vx, 0, vz): x' = c vx + s vz, z' = -s vx + c vz
    dx = c * feats[..., 0] + s * feats[..., 1]
    dz = -s * feats[..., 0] + c * feats[..., 1]
    px = torch.cat([torch.zeros(b, 1), torch.cumsum(dx[:, :-1], 1)], 1)
    pz = torch.cat([torch.zeros(b, 1), torch.cumsum(dz[:, :-1], 1)], 1)
    root = torch.stack([px, feats[..., 2], pz], dim=-1)
    m = sixd_to_matrix(feats[..., 4:].reshape(b, t, D.N_ROT, 6))
    z, o = torch.zeros_like(c), torch.ones_like(c)
    yawm = torch.stack([torch.stack([c, z, s], -1), torch.stack([z, o, z], -1),
                        torch.stack([-s, z, c], -1)], -2)
    m = torch.cat([(yawm @ m[:, :, 0]).unsqueeze(2), m[:, :, 1:]], dim=2)
    return fk(root, m)
