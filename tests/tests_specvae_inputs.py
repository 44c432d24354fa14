"""Small spectrum and candidate files shared by the annotator and command-line tests."""

MGF = """BEGIN IONS
TITLE=pos-1
PEPMASS=181.0859
CHARGE=1+
IONMODE=POSITIVE
ADDUCT=[M+H]+
77.039 20
105.033 100
163.075 45
END IONS

BEGIN IONS
TITLE=no-precursor
CHARGE=1+
IONMODE=POSITIVE
77.039 20
END IONS

BEGIN IONS
TITLE=neg-1
PEPMASS=179.0713
CHARGE=1-
IONMODE=NEGATIVE
ADDUCT=[M-H]-
59.013 100
119.050 30
END IONS

BEGIN IONS
TITLE=odd-adduct
PEPMASS=181.0859
CHARGE=1+
IONMODE=POSITIVE
ADDUCT=[M+Xx]+
77.039 20
END IONS
"""

# Mass 180.0786 (C10H12O3): three isomers; the last line is not a molecule.
CANDIDATES = """spectrum_id,Identifier,SMILES
pos-1,a,COC(=O)CCc1ccc(O)cc1
pos-1,b,CCOC(=O)c1ccc(O)cc1C
pos-1,c,COc1ccc(CCC(=O)O)cc1
pos-1,bad,C1CC(
neg-1,d,COC(=O)CCc1ccc(O)cc1
odd-adduct,e,COC(=O)CCc1ccc(O)cc1
no-precursor,f,COC(=O)CCc1ccc(O)cc1
"""

# A pool run: record 1 cannot be read, record 2 fits the pool's masses, record 3 fits none of them.
POOL_MGF = """BEGIN IONS
TITLE=unreadable
CHARGE=1+
77.039 20
END IONS

BEGIN IONS
TITLE=fits
PEPMASS=181.0859
CHARGE=1+
IONMODE=POSITIVE
77.039 20
105.033 100
END IONS

BEGIN IONS
TITLE=nothing-fits
PEPMASS=400.2000
CHARGE=1+
IONMODE=POSITIVE
77.039 20
105.033 100
END IONS
"""
