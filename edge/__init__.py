"""Humiao edge: camera → faces → tracks → fused age → venue policy → decision."""
