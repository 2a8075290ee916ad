"""mkdocs-gallery's settings that YAML cannot express (``conf_script`` of the gallery plugin in mkdocs.yml)."""
from functools import partial

from mkdocs_gallery.scrapers import matplotlib_scraper

#: figures saved at 150 dpi (the default 100 blurs axis labels on the page)
conf = {"image_scrapers": (partial(matplotlib_scraper, dpi=150),)}
