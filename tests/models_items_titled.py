"""Models where items lost price and its index, and its indexed name became title: the index-history tests' models."""

import peewee as pw


class Item(pw.Model):
    """An item with an indexed title and nothing else."""

    title = pw.CharField(max_length=50, index=True)

    class Meta:
        table_name = "items"
