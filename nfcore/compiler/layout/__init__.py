"""Layout of a forest on the mesh: input, partition, residency, placement (with its
traffic objective and lower bound), the stages in order (`stages`) and their statistics."""
