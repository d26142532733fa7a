"""No Django models: the index is SQL objects beside inbox_gate (reviewer_portal.search.schema).

The module exists so Django sends this app post_migrate, which keeps those objects in place.
"""
