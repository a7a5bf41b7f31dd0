"""Labelbox SDK access: clients and error mapping (``client``), exports (``export``), ontologies
(``ontology``), workflow overviews (``overview``) and media upload / project setup (``upload``)."""
