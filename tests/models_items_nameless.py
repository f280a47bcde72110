"""Models where items lost its NOT NULL name: the keep-data tests' model change."""

import peewee as pw


class Item(pw.Model):
    """An item with a price and no name."""

    price = pw.IntegerField(null=True)

    class Meta:
        table_name = "items"
