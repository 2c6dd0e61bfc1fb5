module github.com/geostream/geostream/simulator

go 1.26.8
