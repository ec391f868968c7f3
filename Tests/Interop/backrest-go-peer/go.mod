module wharf.test/backrestpeer

go 1.26
