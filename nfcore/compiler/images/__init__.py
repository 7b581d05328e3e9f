"""On-disk images: one core (`core_image`, format 1), one tree (`tree_image`,
format 2) and a forest (`forest_image`, format 3)."""
