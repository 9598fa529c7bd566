"""Data curation: posed videos (synthetic, RealEstate10K, nerfstudio, TUM RGB-D, MegaSaM) -> training shards.

    python -m data_curation build --source synthetic:100 --out outputs/curated [--config configs/curation/X.yaml]
                                  [--num-shards N --shard-id I] [--workers W] [--depth-dir DIR]
                                  [--engine ray [--address auto|HOST:PORT]]     (data_curation/ray_engine.py)
    python -m data_curation preview outputs/curated --sample KEY
    python -m data_curation stats outputs/curated

See docs/data.md for the formats.
"""
