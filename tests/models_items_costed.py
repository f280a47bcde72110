"""Models where the nullable items.price became items.cost: the declined-rename tests' model change."""

import peewee as pw


class Item(pw.Model):
    """An item whose price column was renamed to cost."""

    name = pw.CharField(max_length=50)
    cost = pw.IntegerField(null=True)

    class Meta:
        table_name = "items"
