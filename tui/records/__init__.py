"""The lab's records for people and tools: genealogy, differences, exports."""
