"""Models where items.name became items.title: the rename tests' model change."""

import peewee as pw


class Item(pw.Model):
    """An item whose name column was renamed to title."""

    title = pw.CharField(max_length=50)
    price = pw.IntegerField(null=True)

    class Meta:
        table_name = "items"
