"""Models where items lost its price for a note: the lint tests' destructive model change."""

import peewee as pw


class Item(pw.Model):
    """An item with a note and no price."""

    name = pw.CharField(max_length=50)
    note = pw.TextField(null=True)

    class Meta:
        table_name = "items"
