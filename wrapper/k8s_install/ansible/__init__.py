"""ansible"""
