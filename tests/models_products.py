"""Models where the items table became products: the table-rename tests' model change."""

import peewee as pw


class Product(pw.Model):
    """An item, in a table renamed to products."""

    name = pw.CharField(max_length=50)
    price = pw.IntegerField(null=True)

    class Meta:
        table_name = "products"
