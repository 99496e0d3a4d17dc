"""Reading article files into articles and cutting them into chunks.
"""
