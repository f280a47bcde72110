"""Models the review tests compare migrations with."""

import peewee as pw


class Item(pw.Model):
    """An item with a note."""

    name = pw.CharField(max_length=50)
    price = pw.IntegerField(null=True)
    note = pw.TextField(null=True)

    class Meta:
        table_name = "items"
