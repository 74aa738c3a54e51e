"""Numpy building blocks shared by the scenarios' twins (robots moving along factory alleys)."""
