"""Motion in and out: DeepMimic and BVH files (``deepmimic``, ``bvh``), any file by its
extension (``files``), the built-in clips (``library``) and MP4 export (``render``)."""
